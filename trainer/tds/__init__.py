"""Temporal down-sampling with frame-recurrent enhancement (TDS + SRFR + MTSA, paper 003).

``gop``: groups of pictures and Algorithm 1 (which frame is enhanced from which, in what order).
``deform``: modulated deformable convolution (PCD alignment) that exports as ONNX ``DeformConv``.
``mtsa``: the Multi-scale Temporal-Spatial Attention fusion (MTA + PSA).
``enhancer``: the HR-to-HR EDVR-style enhancement network (PCD, MTSA, IQEM) and its sizes.
"""
