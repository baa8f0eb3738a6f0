"""Object detection: YOLOX-style model parts, SimOTA loss, box ops, NMS, post-processing,
COCO-style metrics and dataset formats (YOLO txt, COCO json).

Output contract of the ``anchor_free_decoupled_head`` (and so of every detection model built with it):
one tensor ``(B, N, 5 + num_classes)`` over all levels, each row ``[cx, cy, w, h, obj, cls_0 …]``
with the box already decoded to input pixels and ``obj``/``cls`` as raw logits. Decoding lives in the
model (fx-traceable: grids come from the feature shapes) so an exported model needs no geometry; score
thresholding and NMS stay outside (:mod:`nptrain.detection.postprocess`).
"""
