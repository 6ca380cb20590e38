"""workbench: reproduce and compare ML-systems results in notebooks, backed by one small package."""
__version__ = "0.1.0"
