"""Temporal down-sampling with frame-recurrent enhancement (TDS + SRFR + MTSA, paper 003).

``deform``: modulated deformable convolution (PCD alignment) that exports as ONNX ``DeformConv``.
``mtsa``: the Multi-scale Temporal-Spatial Attention fusion (MTA + PSA).
``enhancer``: the HR-to-HR EDVR-style enhancement network (PCD, MTSA, IQEM) and its sizes.
``pipeline``: Algorithm 1 over groups of decoded frames, and the two-stage training (Sec. 4.1).
The base-codec streams and ``tds.pt`` are the tools' (``nervkit.export.tds_streams``, ``tds_files``).
"""
