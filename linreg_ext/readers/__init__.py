"""The readers of training-data files behind linreg_ext.sources.open_source.

common.py       DataError, value checks and their messages, target columns, Piece (a chunk's place)
csv_files.py    CSV: the one reader of the CSV rules (datasets.load_csv too)
parquet_files.py, npy_files.py   Parquet (pyarrow.parquet) and .npy (header + file I/O)
sharded.py      specs (file, directory, glob), schemas across shards, rank parts, FileSource
"""
