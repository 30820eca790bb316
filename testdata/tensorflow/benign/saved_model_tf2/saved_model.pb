ô
"serve£

n0Placeholder

n1StatefulPartitionedCall


n2NoOp‚
¨

__inference_call_100
placeholder_0Placeholder"
readvariableop_1ReadVariableOp
matmul_2MatMul
	biasadd_3BiasAdd
relu_4Relu

identity_5Identity
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
noop_3NoOp:h
f"d
_tf_keras_layerQ{"name": "dense", "class_name": "Dense", "config": {"name": "dense", "units": 4}}