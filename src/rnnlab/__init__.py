"""rnnlab: build, train, compare and tune recurrent neural networks in PyTorch."""

__version__ = "0.1.0"
