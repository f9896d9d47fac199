"""PyTorch -> ONNX -> NCNN export, parity checks, complexity and the artifact manifest."""
