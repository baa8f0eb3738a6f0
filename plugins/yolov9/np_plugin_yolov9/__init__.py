"""np-plugin-yolov9: GELAN backbone, YOLOv9 neck, head and loss for nptrain."""
