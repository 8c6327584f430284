"""The search: strategies built from shared, recorded steps.

Read in this order: ``config`` (``SearchConfig`` and its sections) and ``strategy_configs``
(each strategy's options), ``registry`` (strategies as plug-ins), ``strategy`` (the protocol),
``steps`` (``SearchSteps``: propose, check, screen, train, record, finish), ``iterative``,
``population`` and ``preference`` (the built-in strategies), ``runner`` (``Search``: a run's
life), ``result`` (``SearchResult``), ``callbacks`` (``SearchCallback``), ``options`` (flags,
config files and overrides). The public names are exported by ``rewardforge`` itself
(``rf.search``, ``rf.Search``, ``rf.SearchConfig``, ...); this package imports nothing, so
``import rewardforge`` stays light.
"""
