"""The agent console and the command-center wall, served by the gateway (`routes`)."""
