"""Parameter-based adapters: share or regularise model parameters between source and target.

Both take a few labelled target samples, ``fit(Xs, ys, Xt, yt=yt)``: ``RegularTransfer``
pulls a target model's weights towards the source model's (the linear counterpart of the
``l2sp`` fine-tuning strategy); ``MultiTask`` learns shared weights plus a per-domain part.
"""

from transferkit.adapt.parameter.multitask import MultiTask
from transferkit.adapt.parameter.regular import RegularTransfer

__all__ = ["MultiTask", "RegularTransfer"]
