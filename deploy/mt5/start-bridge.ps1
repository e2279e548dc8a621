<#
.SYNOPSIS
    Start the MetaTrader 5 RPC bridge (mt5_bridge.py) beside the terminal.

.DESCRIPTION
    Serves this machine's MetaTrader5 module to a tradeloop node elsewhere. Listens on
    127.0.0.1 unless -ListenHost says otherwise; the bridge itself refuses any other address
    without a token. The token is read by the bridge from the environment variable named by
    -TokenEnv (it is never passed on the command line). With -Restart, a bridge that exits
    with an error is started again after 10 seconds. See docs/mt5.md.

.EXAMPLE
    $env:MT5_BRIDGE_TOKEN = "<a long random string>"
    .\start-bridge.ps1 -Port 18812
#>
param(
    # A Python with the MetaTrader5 package (pip install MetaTrader5).
    [string]$Python = "python",
    [string]$ListenHost = "127.0.0.1",
    [int]$Port = 18812,
    # The environment variable holding the shared token ("" for none: loopback only).
    [string]$TokenEnv = "MT5_BRIDGE_TOKEN",
    [switch]$Restart
)
$ErrorActionPreference = "Stop"

if (-not (Get-Process -Name "terminal64" -ErrorAction SilentlyContinue)) {
    Write-Warning "terminal64.exe is not running: clients will fail until MetaTrader 5 runs."
}
$bridgeArgs = @("$PSScriptRoot\mt5_bridge.py", "--host", $ListenHost, "--port", "$Port")
if ($TokenEnv) {
    if ([Environment]::GetEnvironmentVariable($TokenEnv)) {
        $bridgeArgs += @("--token-env", $TokenEnv)
    } else {
        Write-Warning "$TokenEnv is not set: starting without a token (loopback only)."
    }
}
do {
    & $Python @bridgeArgs
    $code = $LASTEXITCODE
    if ($Restart -and $code -ne 0 -and $code -ne 2) {  # 2: refused to start, fix the options
        Write-Warning "the bridge exited with code $code; starting again in 10 s."
        Start-Sleep -Seconds 10
    }
} while ($Restart -and $code -ne 0 -and $code -ne 2)
exit $code
