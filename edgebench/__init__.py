"""edgebench: PyTorch -> ONNX -> NCNN -> ARM boards (real or QEMU-emulated), with statistics that hold up."""

__version__ = "0.1.0"
