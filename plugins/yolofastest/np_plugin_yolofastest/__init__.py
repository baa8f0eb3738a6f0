"""np-plugin-yolofastest: YOLO-FastestV2 (ShuffleNetV2, LightFPN, its anchor head and loss) for nptrain."""
