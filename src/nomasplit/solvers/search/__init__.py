"""The discrete search: rounding a relaxed decision (:mod:`.rounding`), re-optimising its powers and units
(:mod:`.polish`), the moves and their pricing (:mod:`.moves`; priced from the current interference in
:mod:`.local`, at each group's optimal powers in :mod:`.groups`, whose branch and bound is :mod:`.group_bnb`),
the driver shared by both (:mod:`.driver`: descent, kicks, the anytime record) and the mapping of a previous
plan onto a new snapshot (:mod:`.warm_start`)."""
