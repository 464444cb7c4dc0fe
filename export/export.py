"""Exports a trained LinearRegression to TorchScript for the C++ app (cpp_app/).

    python export/export.py [--checkpoint CKPT] --out model.pt [--force]

The documented entry point; the program is linreg_ext.export (also `python -m linreg_ext.export`),
where its options, the metadata it writes and its verification are described.
"""

import sys

from linreg_ext.export import main

if __name__ == "__main__":
    sys.exit(main())
