"""What the tests share besides fixtures (those are in tests/conftest.py), one module a job.

- ``hosts``: the registry the tests ask for, and one host of each form.
- ``environ``: clean environments for the helper, with the test identity's keys.
- ``helper``: the helper under test, how to run it, and how to read its answers.
- ``refresh``: the refresh processes a ``get`` starts in the background, waited for.
- ``kubelet``: kubelet provider requests, and the password a response gives.
- ``tokens``: tokens and cache files, made as the helper would make them.
- ``mounts``: command prefixes that put a directory of the test's on a system path.
- ``users``: running something as a second user (uid 54321).
- ``paths``: the checkout, and the places no test may write to.
- ``inprocess``: ``cli.main`` run in this process, its streams captured.
- ``services``: the token service and the Docker store over a real cache, in-process.
- ``files``: what the tests ask of files on disk.
"""
