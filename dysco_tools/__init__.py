"""Tools around the protocol core (not part of it): the Spin model checker's runner
(:mod:`dysco_tools.verify`, ``make verify``). They use :mod:`dysco_proto`; nothing in
:mod:`dysco_proto` uses them.
"""
