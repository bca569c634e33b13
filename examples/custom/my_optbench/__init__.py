"""An example of extending optbench from outside it: one optimizer and one task, each with a YAML file."""
