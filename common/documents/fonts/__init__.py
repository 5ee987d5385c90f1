"""The notice fonts shipped with the package: Noto Serif SC and Noto Sans SC cut to GB 2312 and the project's own
characters (OFL; rebuilt by `python -m common.documents.fonts.build`)."""
