ó
"serveª

xPlaceholder

w
VariableV2

yMatMul


save/ConstConst

save/SaveV2SaveV2

save/RestoreV2	RestoreV2

save/AssignAssign

save/restore_allNoOp;
save/Const:0save/control_dependency:0save/restore_all