"""Voice pipeline benchmark: CAP and pipecat driven through the same real-time scenario.

Modules here import only the standard library (except ``cap_run``), because the
pipecat side runs them from a separate virtualenv where our packages are absent.
"""
