# One line per Observation for scripts/demo.sh: patient, device, code, time, value.
# Needs --slurpfile patients FILE --slurpfile devices FILE (to show identifiers, not ids).
def names($resources): $resources | map({key: .id, value: .identifier[0].value}) | from_entries;
def seconds: sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601;
def clock($format): seconds | strftime($format);
def pad($n): tostring | . + " " * ([$n - length, 1] | max);
def quantity: "\(.value) \(.unit)";
# A SampledData stream as its filled slots, each at its time.
def stream($start):
  .period as $period | .origin.unit as $unit | (.data | split(" ")) as $slots
  | [$slots | to_entries[] | select(.value != "E")
     | "\(.value)@\(($start | seconds) + .key * $period / 1000 | strftime("%H:%M"))"]
  | "\(join(" ")) \($unit)  (\(length) of \($slots | length) slots of \($period / 1000)s)";
names($patients) as $patient | names($devices) as $device
| .effectivePeriod as $when
| [$patient[.subject.reference | ltrimstr("Patient/")],
   $device[.device.reference | ltrimstr("Device/")],
   (.code.coding[0] | "\(.code) \(.display | sub(" (in|with|by) .*$"; ""))"),
   (if $when.start == $when.end then $when.start | clock("%H:%M:%S")
    else "\($when.start | clock("%H:%M"))-\($when.end | clock("%H:%M"))" end),
   (if .valueSampledData then .valueSampledData | stream($when.start)
    elif .valueQuantity then .valueQuantity | quantity
    elif .valueString then .valueString
    elif .valueCodeableConcept then .valueCodeableConcept.text
    else [.component[]? | "\(.code.coding[0].display | sub(" blood pressure"; "")) \(.valueQuantity | quantity)"]
         | join(", ") end)]
| "\(.[0] | pad(13))\(.[1] | pad(15))\(.[2] | pad(34))\(.[3] | pad(13))\(.[4])"
