"""Rules as data: the built-in response policies (policies/) and warden's Sigma rules (sigma/).
The engine that reads them is policy/ (policies) and detectors/sigma (Sigma)."""
