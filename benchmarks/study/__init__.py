"""The RGB-vs-DCT accuracy study behind ``benchmarks/accuracy.py`` (``make study``), one job per module:

- :mod:`.arms`     what is compared: the plan (sizes, schedules, seeds), the arms, the shared recipe
- :mod:`.data`     the study set and the photo patches, written once and registered
- :mod:`.running`  one run at a time: a script of this repository, skipped when its result exists
- :mod:`.cost`     what an arm costs: GFLOPs and the bytes handed to the model per image
- :mod:`.report`   what the runs say: summary, table, plot, gate figures, spectral rankings
- :mod:`.main`     the command line and the order of work, the JSON rewritten after every step
"""
