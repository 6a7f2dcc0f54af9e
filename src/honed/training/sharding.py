"""What honed needs to know of a model FSDP2 has sharded: whether it is, its tied weights, and how to put it back in
its sharded state."""

from __future__ import annotations


def is_sharded(model) -> bool:
    """FSDP2 holds each process's share of a weight as a DTensor."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def reshard(model) -> None:
    """Put every FSDP2 module back in its sharded state. After a forward pass FSDP2 leaves the weights of modules it
    does not reshard after forward (the final norm with the tied embedding/LM head, as transformers plans it)
    registered as whole, temporary tensors; freezing the model then (peft does) freezes those and not the sharded
    weights that training registers again, so the embeddings would train and be checkpointed under LoRA."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def tied_aliases(model) -> dict[str, str]:
    """{alias: name} for each parameter reachable under more than one name (lm_head.weight -> embed_tokens.weight
    when embeddings are tied): a checkpoint writes the weight once, under `name`, and loading ties it back."""
    first: dict[int, str] = {}
    aliases = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if id(parameter) in first:
            aliases[name] = first[id(parameter)]
        else:
            first[id(parameter)] = name
    return aliases
