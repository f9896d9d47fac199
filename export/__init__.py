"""PyTorch -> ONNX -> NCNN export, parity checks, complexity and the artifact manifest."""

OPSET = 13  # the ONNX opset torch exports at unless `edgebench export --opset` says otherwise (here: no torch import)
