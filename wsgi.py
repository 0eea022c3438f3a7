import gc

from app import create_app

app = create_app()
# What the app holds from start to end (modules, metadata, templates, translations) is moved out of the collector's
# reach: an occasional full collection then scans only what requests made, not some 150,000 long-lived objects
# (about 50 ms, a stall for every request queued behind it).
gc.collect()
gc.freeze()
