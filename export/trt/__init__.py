"""TensorRT: engine building and caching from the TensorRT-flavoured ONNX, and the Haar plugins.

``tensorrt`` and ``pycuda`` are imported lazily (``runtime.backends.trt``), only when an engine is built
or run; a missing install is a user error that names the extra to install.
"""
