<#
.SYNOPSIS
    Start a tradeloop live node that trades through MetaTrader 5 on this machine.

.DESCRIPTION
    Activates the virtual environment, waits until the MetaTrader 5 terminal is running (attach
    mode needs it running and logged in; skip the check with -SkipTerminalCheck in login mode,
    where the adapter starts the terminal itself), then runs "tradeloop live <Config>".
    With -Restart, a node that exits with an error is started again after 30 seconds.
    Secrets (MT5_PASSWORD...) come from the environment. See docs/mt5.md.

.EXAMPLE
    .\start-node.ps1 -Config C:\tradeloop\node.toml -Restart
#>
param(
    [string]$Config = "node.toml",
    [string]$Venv = "$PSScriptRoot\..\..\.venv",
    [string]$TerminalProcess = "terminal64",
    [int]$WaitSeconds = 120,
    [switch]$SkipTerminalCheck,
    [switch]$Restart
)
$ErrorActionPreference = "Stop"

function Wait-Terminal {
    $deadline = (Get-Date).AddSeconds($WaitSeconds)
    while (-not (Get-Process -Name $TerminalProcess -ErrorAction SilentlyContinue)) {
        if ((Get-Date) -gt $deadline) {
            [Console]::Error.WriteLine("$TerminalProcess.exe is not running: start MetaTrader 5 and log in first.")
            exit 3
        }
        Start-Sleep -Seconds 5
    }
}

. (Join-Path $Venv "Scripts\Activate.ps1")
do {
    if (-not $SkipTerminalCheck) { Wait-Terminal }
    tradeloop live $Config
    $code = $LASTEXITCODE
    if ($Restart -and $code -ne 0) {
        Write-Warning "tradeloop live exited with code $code; starting again in 30 s."
        Start-Sleep -Seconds 30
    }
} while ($Restart -and $code -ne 0)
exit $code
