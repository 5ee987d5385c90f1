"""The logistics window (物料流转窗口): parcels in, pre-review of mailed applications, parcels out, applicant
messages."""
