"""``torch.hub`` entry points: ``torch.hub.load("DIR_OR_OWNER/REPO", "avpet_small_mid_lowrank",
pretrained=...)`` builds any registered avpet model (``avpet.list_models()``) with
:func:`avpet.create_model`'s arguments; ``torch.hub.list`` lists them."""

import avpet as _avpet

dependencies = ["torch", "huggingface_hub", "safetensors", "einops", "av", "numpy", "tqdm"]


def _entry_point(name: str):
    def build(pretrained=False, **overrides):
        return _avpet.create_model(name, pretrained=pretrained, **overrides)

    build.__name__ = name
    build.__doc__ = f"``avpet.create_model({name!r}, pretrained=False, **overrides)``."
    return build


globals().update({_name: _entry_point(_name) for _name in _avpet.list_models()})
