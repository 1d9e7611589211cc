"""Parameter sweeps: a grid or samples of scenario fields, with replications, run as many run directories.

    from sim import sweep
    table = sweep("scenarios/contracts_sweep.yaml", workers=2)   # one row per run

``spec`` is the ``sweep:`` block's schema (imported by ``sim.scenario``, so it depends on pydantic only);
``plan`` turns a spec into cells; ``cell`` runs one; ``executors`` run many (in process, local processes, Ray);
``results`` is the results table; ``api`` ties them together; ``plots`` draws a results table.
"""
