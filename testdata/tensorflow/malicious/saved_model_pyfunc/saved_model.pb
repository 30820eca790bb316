Ë
"serve‹

n0Placeholder

n1StatefulPartitionedCall


n2NoOpõ
l

__inference_call_300
placeholder_0Placeholder
eagerpyfunc_1EagerPyFunc

identity_2Identity
x

__inference_leak_301
const_0Const

readfile_1ReadFile
writefile_2	WriteFile
mycustomop_3
MyCustomOp
†

__inference__traced_save_200.
staticregexfullmatch_0StaticRegexFullMatch
const_1Const
select_2Select
stringjoin_3
StringJoin$
shardedfilename_4ShardedFilename
savev2_5SaveV2*
mergev2checkpoints_6MergeV2Checkpoints

identity_7Identity
noop_8NoOp
ç
!
__inference__traced_restore_201
restorev2_0	RestoreV2

identity_1Identity&
assignvariableop_2AssignVariableOp
noop_3NoOp