@echo off
REM kubectl (1.26 and later) runs kubectl_complete-karpctl, found on PATH, to complete
REM "kubectl karpctl <TAB>": karpctl's own completion answers.
kubectl-karpctl.exe __complete %*
