"""np-plugin-mobilenetv4: MobileNetV4 (Qin et al. 2024) in NetsPresso Trainer's block-list layout."""
