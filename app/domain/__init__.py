"""Pure types of the trading domain: no I/O, no framework. Every other package depends on this one."""
