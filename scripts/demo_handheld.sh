#!/usr/bin/env bash
# `make demo`, after the pilot is built: a warden's shift today on the reference handheld (issue 14).
# Three tickets are issued with `lotse-handheld` (token URL, printed ticket as PNG, row of the shift's export).
# The motorist of the first pays by bank transfer with the ticket's reference before the evening import; the
# import then closes its case. The second is imported unpaid; the third stays on the device (its export has not
# arrived), so its code shows the pending page, where it can be paid with PayPal at once.
# Usage: scripts/demo_handheld.sh BIN_DIR DATA_DIR (LOTSE_* settings in the environment, as for `lotse demo`).
set -euo pipefail
bin=$1
data=$2
dir=$data/handheld
mkdir -p "$dir"
catalogue=${LOTSE_PILOT_DATA:-pilot-data}/tbnr-parking.csv
key=$dir/hh-demo.json
"$bin/lotse" devices add HH-DEMO --out "$key" >/dev/null

issue() { # ticket plate street house_no export
    "$bin/lotse-handheld" issue --key "$key" --catalogue "$catalogue" --ticket "$1" --plate "$2" --tbnr 141312 \
        --street "$3" --house-no "$4" --zip 67655 --city Kaiserslautern --officer DN-0042 \
        --png "$dir/ticket-$1.png" --export "$5"
}
paid=$(issue 0900001 "KL-LT 101" "Fackelstraße" 12 "$dir/shift-today.csv")
unpaid=$(issue 0900002 "KL-LT 202" "Marktstraße" 3 "$dir/shift-today.csv")
waiting=$(issue 0900003 "KL-LT 303" "Pirmasenser Straße" 7 "$dir/shift-late.csv")

# the bank's notification of the transfer made with the reference printed on the first ticket
python3 - "$dir/camt-today.xml" <<'PY'
import datetime, os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "scripts"))
import camt
today = datetime.date.today().isoformat()
camt.write(sys.argv[1], "camt.054.001.08", [
    {"amount": 2500, "ref": "DEMO-HH-1", "date": today,
     "txs": [{"amount": 2500, "rf": camt.rf("HHDEMO900001"), "name": "Demo Zahlerin"}]}])
PY
echo "handheld: ticket 0900001 paid by transfer before its export arrived:"
"$bin/lotse" reconcile "$dir/camt-today.xml" | sed 's/^/  /'
echo "handheld: the evening import of the shift's export (tickets 0900001 and 0900002):"
"$bin/lotse" import "$dir/shift-today.csv" | sed 's/^/  /'

echo "Tickets issued today with lotse-handheld (printed tickets as PNG):"
echo "  paid before the evening import:  $paid"
echo "                                   $dir/ticket-0900001.png"
echo "  imported, open:                  $unpaid"
echo "                                   $dir/ticket-0900002.png"
echo "  not yet exported (pending page, pay with PayPal now):"
echo "                                   $waiting"
echo "                                   $dir/ticket-0900003.png"
