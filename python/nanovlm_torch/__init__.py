"""nanovlm's second training engine: the NanoVLM model in PyTorch, trained with DistributedDataParallel
on packed datasets, reading and writing the toolkit's own checkpoints (see README "Scaling out").

  python3 -m nanovlm_torch --run DIR [--resume CKPT] [--device cpu|cuda]    (one rank, or under torchrun)
"""
