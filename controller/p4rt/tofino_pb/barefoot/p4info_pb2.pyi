from controller.p4rt.gen.p4.config.v1 import p4types_pb2 as _p4types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_INGRESS: _ClassVar[Direction]
    DIRECTION_EGRESS: _ClassVar[Direction]
DIRECTION_INGRESS: Direction
DIRECTION_EGRESS: Direction

class P4Ids(_message.Message):
    __slots__ = ()
    class Prefix(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNSPECIFIED: _ClassVar[P4Ids.Prefix]
        ACTION_PROFILE: _ClassVar[P4Ids.Prefix]
        ACTION_SELECTOR: _ClassVar[P4Ids.Prefix]
        COUNTER: _ClassVar[P4Ids.Prefix]
        DIRECT_COUNTER: _ClassVar[P4Ids.Prefix]
        METER: _ClassVar[P4Ids.Prefix]
        DIRECT_METER: _ClassVar[P4Ids.Prefix]
        WRED: _ClassVar[P4Ids.Prefix]
        DIRECT_WRED: _ClassVar[P4Ids.Prefix]
        LPF: _ClassVar[P4Ids.Prefix]
        DIRECT_LPF: _ClassVar[P4Ids.Prefix]
        REGISTER: _ClassVar[P4Ids.Prefix]
        DIRECT_REGISTER: _ClassVar[P4Ids.Prefix]
        REGISTER_PARAM: _ClassVar[P4Ids.Prefix]
        DIGEST: _ClassVar[P4Ids.Prefix]
        HASH: _ClassVar[P4Ids.Prefix]
        PORT_METADATA: _ClassVar[P4Ids.Prefix]
        SNAPSHOT: _ClassVar[P4Ids.Prefix]
        SNAPSHOT_TRIGGER: _ClassVar[P4Ids.Prefix]
        SNAPSHOT_DATA: _ClassVar[P4Ids.Prefix]
        SNAPSHOT_LIVENESS: _ClassVar[P4Ids.Prefix]
        HASH_CONFIGURE: _ClassVar[P4Ids.Prefix]
        HASH_COMPUTE: _ClassVar[P4Ids.Prefix]
        HASH_ALGORITHM: _ClassVar[P4Ids.Prefix]
        PARSER_CHOICES: _ClassVar[P4Ids.Prefix]
        DEBUG_COUNTER: _ClassVar[P4Ids.Prefix]
        ACTION_SELECTOR_GET_MEMBER: _ClassVar[P4Ids.Prefix]
        VALUE_SET: _ClassVar[P4Ids.Prefix]
    UNSPECIFIED: P4Ids.Prefix
    ACTION_PROFILE: P4Ids.Prefix
    ACTION_SELECTOR: P4Ids.Prefix
    COUNTER: P4Ids.Prefix
    DIRECT_COUNTER: P4Ids.Prefix
    METER: P4Ids.Prefix
    DIRECT_METER: P4Ids.Prefix
    WRED: P4Ids.Prefix
    DIRECT_WRED: P4Ids.Prefix
    LPF: P4Ids.Prefix
    DIRECT_LPF: P4Ids.Prefix
    REGISTER: P4Ids.Prefix
    DIRECT_REGISTER: P4Ids.Prefix
    REGISTER_PARAM: P4Ids.Prefix
    DIGEST: P4Ids.Prefix
    HASH: P4Ids.Prefix
    PORT_METADATA: P4Ids.Prefix
    SNAPSHOT: P4Ids.Prefix
    SNAPSHOT_TRIGGER: P4Ids.Prefix
    SNAPSHOT_DATA: P4Ids.Prefix
    SNAPSHOT_LIVENESS: P4Ids.Prefix
    HASH_CONFIGURE: P4Ids.Prefix
    HASH_COMPUTE: P4Ids.Prefix
    HASH_ALGORITHM: P4Ids.Prefix
    PARSER_CHOICES: P4Ids.Prefix
    DEBUG_COUNTER: P4Ids.Prefix
    ACTION_SELECTOR_GET_MEMBER: P4Ids.Prefix
    VALUE_SET: P4Ids.Prefix
    def __init__(self) -> None: ...

class MeterSpec(_message.Message):
    __slots__ = ("unit", "type")
    class Unit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNSPECIFIED: _ClassVar[MeterSpec.Unit]
        BYTES: _ClassVar[MeterSpec.Unit]
        PACKETS: _ClassVar[MeterSpec.Unit]
    UNSPECIFIED: MeterSpec.Unit
    BYTES: MeterSpec.Unit
    PACKETS: MeterSpec.Unit
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        COLOR_UNAWARE: _ClassVar[MeterSpec.Type]
        COLOR_AWARE: _ClassVar[MeterSpec.Type]
    COLOR_UNAWARE: MeterSpec.Type
    COLOR_AWARE: MeterSpec.Type
    UNIT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    unit: MeterSpec.Unit
    type: MeterSpec.Type
    def __init__(self, unit: _Optional[_Union[MeterSpec.Unit, str]] = ..., type: _Optional[_Union[MeterSpec.Type, str]] = ...) -> None: ...

class CounterSpec(_message.Message):
    __slots__ = ("unit",)
    class Unit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNSPECIFIED: _ClassVar[CounterSpec.Unit]
        BYTES: _ClassVar[CounterSpec.Unit]
        PACKETS: _ClassVar[CounterSpec.Unit]
        PACKETS_AND_BYTES: _ClassVar[CounterSpec.Unit]
    UNSPECIFIED: CounterSpec.Unit
    BYTES: CounterSpec.Unit
    PACKETS: CounterSpec.Unit
    PACKETS_AND_BYTES: CounterSpec.Unit
    UNIT_FIELD_NUMBER: _ClassVar[int]
    unit: CounterSpec.Unit
    def __init__(self, unit: _Optional[_Union[CounterSpec.Unit, str]] = ...) -> None: ...

class ActionProfile(_message.Message):
    __slots__ = ("table_ids", "size")
    TABLE_IDS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    table_ids: _containers.RepeatedScalarFieldContainer[int]
    size: int
    def __init__(self, table_ids: _Optional[_Iterable[int]] = ..., size: _Optional[int] = ...) -> None: ...

class ActionSelector(_message.Message):
    __slots__ = ("table_ids", "hash_id", "max_group_size", "num_groups", "action_profile_id", "adt_offset")
    TABLE_IDS_FIELD_NUMBER: _ClassVar[int]
    HASH_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    NUM_GROUPS_FIELD_NUMBER: _ClassVar[int]
    ACTION_PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    ADT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    table_ids: _containers.RepeatedScalarFieldContainer[int]
    hash_id: int
    max_group_size: int
    num_groups: int
    action_profile_id: int
    adt_offset: int
    def __init__(self, table_ids: _Optional[_Iterable[int]] = ..., hash_id: _Optional[int] = ..., max_group_size: _Optional[int] = ..., num_groups: _Optional[int] = ..., action_profile_id: _Optional[int] = ..., adt_offset: _Optional[int] = ...) -> None: ...

class Counter(_message.Message):
    __slots__ = ("spec", "size")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    spec: CounterSpec
    size: int
    def __init__(self, spec: _Optional[_Union[CounterSpec, _Mapping]] = ..., size: _Optional[int] = ...) -> None: ...

class DirectCounter(_message.Message):
    __slots__ = ("spec", "direct_table_id")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    DIRECT_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    spec: CounterSpec
    direct_table_id: int
    def __init__(self, spec: _Optional[_Union[CounterSpec, _Mapping]] = ..., direct_table_id: _Optional[int] = ...) -> None: ...

class Meter(_message.Message):
    __slots__ = ("spec", "size")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    spec: MeterSpec
    size: int
    def __init__(self, spec: _Optional[_Union[MeterSpec, _Mapping]] = ..., size: _Optional[int] = ...) -> None: ...

class DirectMeter(_message.Message):
    __slots__ = ("spec", "direct_table_id")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    DIRECT_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    spec: MeterSpec
    direct_table_id: int
    def __init__(self, spec: _Optional[_Union[MeterSpec, _Mapping]] = ..., direct_table_id: _Optional[int] = ...) -> None: ...

class WredSpec(_message.Message):
    __slots__ = ("drop_value", "no_drop_value")
    DROP_VALUE_FIELD_NUMBER: _ClassVar[int]
    NO_DROP_VALUE_FIELD_NUMBER: _ClassVar[int]
    drop_value: int
    no_drop_value: int
    def __init__(self, drop_value: _Optional[int] = ..., no_drop_value: _Optional[int] = ...) -> None: ...

class Wred(_message.Message):
    __slots__ = ("spec", "size")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    spec: WredSpec
    size: int
    def __init__(self, spec: _Optional[_Union[WredSpec, _Mapping]] = ..., size: _Optional[int] = ...) -> None: ...

class DirectWred(_message.Message):
    __slots__ = ("spec", "direct_table_id")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    DIRECT_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    spec: WredSpec
    direct_table_id: int
    def __init__(self, spec: _Optional[_Union[WredSpec, _Mapping]] = ..., direct_table_id: _Optional[int] = ...) -> None: ...

class Lpf(_message.Message):
    __slots__ = ("size",)
    SIZE_FIELD_NUMBER: _ClassVar[int]
    size: int
    def __init__(self, size: _Optional[int] = ...) -> None: ...

class DirectLpf(_message.Message):
    __slots__ = ("direct_table_id",)
    DIRECT_TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    direct_table_id: int
    def __init__(self, direct_table_id: _Optional[int] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("type_spec", "size", "data_field_name")
    TYPE_SPEC_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    type_spec: _p4types_pb2.P4DataTypeSpec
    size: int
    data_field_name: str
    def __init__(self, type_spec: _Optional[_Union[_p4types_pb2.P4DataTypeSpec, _Mapping]] = ..., size: _Optional[int] = ..., data_field_name: _Optional[str] = ...) -> None: ...

class DirectRegister(_message.Message):
    __slots__ = ("type_spec", "data_field_name")
    TYPE_SPEC_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    type_spec: _p4types_pb2.P4DataTypeSpec
    data_field_name: str
    def __init__(self, type_spec: _Optional[_Union[_p4types_pb2.P4DataTypeSpec, _Mapping]] = ..., data_field_name: _Optional[str] = ...) -> None: ...

class RegisterParam(_message.Message):
    __slots__ = ("type_spec", "table_id", "initial_value", "data_field_name")
    TYPE_SPEC_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    INITIAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    type_spec: _p4types_pb2.P4DataTypeSpec
    table_id: int
    initial_value: int
    data_field_name: str
    def __init__(self, type_spec: _Optional[_Union[_p4types_pb2.P4DataTypeSpec, _Mapping]] = ..., table_id: _Optional[int] = ..., initial_value: _Optional[int] = ..., data_field_name: _Optional[str] = ...) -> None: ...

class Digest(_message.Message):
    __slots__ = ("type_spec",)
    TYPE_SPEC_FIELD_NUMBER: _ClassVar[int]
    type_spec: _p4types_pb2.P4DataTypeSpec
    def __init__(self, type_spec: _Optional[_Union[_p4types_pb2.P4DataTypeSpec, _Mapping]] = ...) -> None: ...

class DynHash(_message.Message):
    __slots__ = ("type_spec", "field_infos", "hash_width")
    class field_info(_message.Message):
        __slots__ = ("field_name", "is_constant")
        FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
        IS_CONSTANT_FIELD_NUMBER: _ClassVar[int]
        field_name: str
        is_constant: bool
        def __init__(self, field_name: _Optional[str] = ..., is_constant: _Optional[bool] = ...) -> None: ...
    TYPE_SPEC_FIELD_NUMBER: _ClassVar[int]
    FIELD_INFOS_FIELD_NUMBER: _ClassVar[int]
    HASH_WIDTH_FIELD_NUMBER: _ClassVar[int]
    type_spec: _p4types_pb2.P4DataTypeSpec
    field_infos: _containers.RepeatedCompositeFieldContainer[DynHash.field_info]
    hash_width: int
    def __init__(self, type_spec: _Optional[_Union[_p4types_pb2.P4DataTypeSpec, _Mapping]] = ..., field_infos: _Optional[_Iterable[_Union[DynHash.field_info, _Mapping]]] = ..., hash_width: _Optional[int] = ...) -> None: ...

class PortMetadata(_message.Message):
    __slots__ = ("key_name", "type_spec")
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_SPEC_FIELD_NUMBER: _ClassVar[int]
    key_name: str
    type_spec: _p4types_pb2.P4DataTypeSpec
    def __init__(self, key_name: _Optional[str] = ..., type_spec: _Optional[_Union[_p4types_pb2.P4DataTypeSpec, _Mapping]] = ...) -> None: ...

class ValueSet(_message.Message):
    __slots__ = ("type_spec", "size")
    TYPE_SPEC_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    type_spec: _p4types_pb2.P4DataTypeSpec
    size: int
    def __init__(self, type_spec: _Optional[_Union[_p4types_pb2.P4DataTypeSpec, _Mapping]] = ..., size: _Optional[int] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("pipe", "direction", "fields")
    class Field(_message.Message):
        __slots__ = ("id", "name", "bitwidth")
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        BITWIDTH_FIELD_NUMBER: _ClassVar[int]
        id: int
        name: str
        bitwidth: int
        def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., bitwidth: _Optional[int] = ...) -> None: ...
    PIPE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    pipe: str
    direction: Direction
    fields: _containers.RepeatedCompositeFieldContainer[Snapshot.Field]
    def __init__(self, pipe: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., fields: _Optional[_Iterable[_Union[Snapshot.Field, _Mapping]]] = ...) -> None: ...

class ParserChoices(_message.Message):
    __slots__ = ("pipe", "direction", "choices")
    class ParserChoice(_message.Message):
        __slots__ = ("arch_name", "type_name", "user_name")
        ARCH_NAME_FIELD_NUMBER: _ClassVar[int]
        TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
        USER_NAME_FIELD_NUMBER: _ClassVar[int]
        arch_name: str
        type_name: str
        user_name: str
        def __init__(self, arch_name: _Optional[str] = ..., type_name: _Optional[str] = ..., user_name: _Optional[str] = ...) -> None: ...
    PIPE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    pipe: str
    direction: Direction
    choices: _containers.RepeatedCompositeFieldContainer[ParserChoices.ParserChoice]
    def __init__(self, pipe: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., choices: _Optional[_Iterable[_Union[ParserChoices.ParserChoice, _Mapping]]] = ...) -> None: ...
