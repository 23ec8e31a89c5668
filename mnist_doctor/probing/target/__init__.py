"""Scripts run by the *target* interpreter (``--python``), never imported by the doctor.

Rules for every file here: standard library only, valid on Python 3.9, and the
answer is one line ``@@MNIST_DOCTOR_JSON@@{...}`` printed last on stdout. What the
scripts share (that marker, ``emit``, ``stage``, redaction, the description of an
exception) is ``_prelude.py``, which each script includes with
``from _prelude import ...  # mnist-doctor: include`` (inlined by ``subproc.script_source``).
"""
