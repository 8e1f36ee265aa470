"""Making an encoder pipeline trainable: LoRA adapters on the frozen transformer and/or a projection head."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from coldstart.encoder.modules import Head, Transformer, transformer_of


def add_lora(transformer: Transformer, r: int, alpha: int, targets: tuple[str, ...], top_layers: int = 0) -> None:
    """Wrap the transformer's model with peft LoRA adapters on the `targets` linear layers (base frozen),
    in its last `top_layers` layers only when > 0: backpropagation then stops at the lowest adapted layer."""
    from peft import LoraConfig, get_peft_model

    depth = int(getattr(transformer.model.config, "num_hidden_layers", 0))
    layers = list(range(max(0, depth - top_layers), depth)) if 0 < top_layers < depth else None
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), bias="none",
                        layers_to_transform=layers, layers_pattern="layer" if layers else None)
    transformer.model = get_peft_model(transformer.model, config)


def identity_head(dim_in: int, dim_out: int = 0) -> Head:
    """A bias-free linear head that starts as the identity (its first `dim_out` rows), so training
    starts at the base."""
    linear = nn.Linear(dim_in, dim_out or dim_in, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(dim_out or dim_in, dim_in))
    return Head(linear)


def with_head(pipeline: nn.Sequential, head: Head) -> nn.Sequential:
    """Insert `head` before the final Normalize module."""
    modules = list(pipeline)
    return nn.Sequential(*modules[:-1], head, modules[-1])


def freeze_base(pipeline: nn.Sequential) -> list[nn.Parameter]:
    """Freeze everything but LoRA weights and heads; return the parameters left trainable."""
    trainable = []
    head_params = {id(p) for module in pipeline if isinstance(module, Head) for p in module.parameters()}
    for name, param in pipeline.named_parameters():
        param.requires_grad = "lora_" in name or id(param) in head_params
        if param.requires_grad:
            trainable.append(param)
    return trainable


def save_trained(pipeline: nn.Sequential, directory: Path) -> list[str]:
    """Write lora/ (peft adapter format) and head.pt (nn.Linear state dict) as present; return the names written."""
    written = []
    transformer = transformer_of(pipeline)
    if hasattr(transformer.model, "peft_config"):
        transformer.model.save_pretrained(str(directory / "lora"))
        (directory / "lora" / "README.md").unlink(missing_ok=True)  # peft's model-card template
        written.append("lora")
    heads = [m for m in pipeline if isinstance(m, Head)]
    if heads:
        torch.save({k: v.detach().cpu() for k, v in heads[-1].linear.state_dict().items()}, directory / "head.pt")
        written.append("head.pt")
    return written
