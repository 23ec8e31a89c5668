"""Scripts run by the *target* interpreter (``--python``), never imported by the doctor.

Rules for every file here: standard library only, valid on Python 3.9, and the
answer is one line ``@@MNIST_DOCTOR_JSON@@{...}`` printed last on stdout.
"""
