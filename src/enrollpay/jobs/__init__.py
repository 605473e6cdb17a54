"""Jobs core: a jobs table in our own database (transactional outbox) and the worker."""
