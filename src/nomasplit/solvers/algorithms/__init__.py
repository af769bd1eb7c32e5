"""The registered algorithms built from the relaxation and the search: Li-GD and GD as Table I states them
(:mod:`.ligd_paper`), the default pipeline ``ligd`` (:mod:`.ligd`), per-user splits (:mod:`.peruser`), the
proven optimum (:mod:`.exact`) and the paper's ECC scheme over NOMA and OMA (:mod:`.ecc`)."""
