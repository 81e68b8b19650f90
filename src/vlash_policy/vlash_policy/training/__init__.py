"""Fine-tuning of the VLA: VLASH offset augmentation + AsyncVLA unified training and rater stage."""
