# The W1 mapping (iomt-fhir's sample/templates/basic) written in jq, as the
# baseline bench/normalize.sh measures iomt against: six templates, each
# `$..[?(@name)]` over the message, one measurement per match.
def m(type; props): {Type: type, OccurrenceTimeUtc: .measurementdatetime, IngestionTimeUtc: null,
  DeviceId: .deviceid, PatientId: .patientid, EncounterId: null, CorrelationId: null, Properties: props};
def v(name; value): {Name: name, Value: (value | tostring)};
[.. | objects] as $objs
| ($objs[] | select(has("heartrate")) | m("heartrate"; [v("hr"; .heartrate)])),
  ($objs[] | select(has("steps")) | m("steps"; [v("steps"; .steps)])),
  ($objs[] | select(has("systolic") and has("diastolic")) | m("bloodpressure"; [v("systolic"; .systolic), v("diastolic"; .diastolic)])),
  ($objs[] | select(has("hrv")) | m("hrv"; [v("hrv"; .hrv)])),
  ($objs[] | select(has("deviceWorn")) | m("deviceWorn"; [v("deviceWorn"; .deviceWorn)])),
  ($objs[] | select(has("deviceRemoved")) | m("deviceRemoved"; [v("deviceRemoved"; .deviceRemoved)]))
