# Scripts and configuration for running sluice and its local lab.
