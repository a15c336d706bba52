"""The documents: schemas, deployment specs, YAML kinds, data URIs and asset references.

Pure data and rules about it; nothing here touches a workspace, a store or Dask.
"""
