"""The PDF engine for official documents (公文 layout, embedded CJK fonts, 禁则), shared by node and central."""
