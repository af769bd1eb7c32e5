"""The continuous relaxation: the problem at fixed splits and its gradient methods (:mod:`.gradient`), the
feasible sets (:mod:`.projections`), the relaxed sweep over common splits (:mod:`.sweep`) and the lower bounds
that relaxing interference and slot limits gives (:mod:`.bounds`)."""
