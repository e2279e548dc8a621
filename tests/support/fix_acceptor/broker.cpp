// Order handling of the scripted broker: new orders, cancels, replaces, matching against the
// quote, fills, the account, and the control commands that steer it.
#include "broker.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "quickfix/Exceptions.h"

namespace
{
const double kEps = 1e-9;

bool isOpenStatus( char status ) { return status == '0' || status == '1'; }
bool isBuy( const Order& o ) { return o.side == '1'; }
bool isStopType( char ordType ) { return ordType == '3' || ordType == '4'; }
bool hasLimit( char ordType ) { return ordType == '2' || ordType == '4'; }

bool isLotMultiple( double qty, double lot )
{
  double units = qty / lot;
  return std::fabs( units - std::round( units ) ) < 1e-7;
}

// A required numeric field; a malformed value is the engine's "incorrect data format" reject.
double numberField( const FIX::Message& m, int tag )
{
  const std::string& text = m.getField( tag );
  char* end = 0;
  double value = std::strtod( text.c_str(), &end );
  if ( text.empty() || *end != '\0' || !std::isfinite( value ) )
    throw FIX::IncorrectDataFormat( tag, "not a number: " + text );
  return value;
}

double optionalNumber( const FIX::Message& m, int tag, double fallback )
{
  return m.isSetField( tag ) ? numberField( m, tag ) : fallback;
}

std::string optionalText( const FIX::Message& m, int tag )
{
  return m.isSetField( tag ) ? m.getField( tag ) : std::string();
}

const char* statusName( char status )
{
  switch ( status )
  {
  case '0': return "new";
  case '1': return "partially_filled";
  case '2': return "filled";
  case '4': return "canceled";
  case '8': return "rejected";
  case 'C': return "expired";
  default: return "unknown";
  }
}
}  // namespace

Broker::Broker( Outbox& outbox, const BrokerSettings& settings )
  : m_outbox( outbox ), m_settings( settings ), m_cash( settings.startingCash )
{
  // IDs differ between runs so that a restarted acceptor never repeats an ExecID.
  std::ostringstream prefix;
  prefix << std::hex << static_cast<uint64_t>( epochNow() * 1000.0 ) << "-";
  m_idPrefix = prefix.str();
}

std::string Broker::nextId( const char* kind )
{
  std::ostringstream id;
  id << kind << m_idPrefix << ++m_idCounter;
  return id.str();
}

std::string Broker::nextExecId() { return nextId( "E" ); }

Broker::OrderPtr Broker::find( const std::string& clOrdId ) const
{
  std::map<std::string, OrderPtr>::const_iterator i = m_byClOrdId.find( clOrdId );
  return i == m_byClOrdId.end() ? OrderPtr() : i->second;
}

// ---------------------------------------------------------------- new orders

void Broker::onNewOrderSingle( const FIX::Message& m, const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  OrderPtr order = std::make_shared<Order>();
  Order& o = *order;
  o.clOrdId = m.getField( 11 );
  o.symbol = m.getField( 55 );
  o.side = m.getField( 54 ).empty() ? '?' : m.getField( 54 )[ 0 ];
  o.ordType = m.getField( 40 ).empty() ? '?' : m.getField( 40 )[ 0 ];
  o.qty = numberField( m, 38 );
  o.price = optionalNumber( m, 44, 0 );
  o.stopPx = optionalNumber( m, 99, 0 );
  std::string tif = optionalText( m, 59 );
  o.tif = tif.empty() ? '0' : tif[ 0 ];
  o.expireTimeText = optionalText( m, 126 );
  o.account = m.isSetField( 1 ) ? m.getField( 1 ) : m_settings.account;
  o.session = session;
  o.orderId = nextId( "O" );
  if ( o.side == '5' ) o.side = '2';  // sell short is a sell for this account

  ++m_newOrderCount[ o.clOrdId ];
  NextModes modes = m_next;
  m_next = NextModes();
  o.muted = modes.silent;
  o.duplicateReports = modes.duplicate;
  o.liquidityCap = modes.partialQty;

  if ( find( o.clOrdId ) )
  {
    // A duplicate is answered but never replaces the original order.
    o.status = '8';
    o.text = "duplicate ClOrdID " + o.clOrdId;
    FIX::Message report = executionReport( o, '8' );
    report.setField( 103, "6" );
    report.setField( 58, o.text );
    emit( o, report, false );
    return;
  }
  m_orders.push_back( order );
  m_byClOrdId[ o.clOrdId ] = order;

  if ( modes.rejectFatal )
  {
    rejectNew( o, 99, "insufficient funds" );
    return;
  }
  int reason = 0;
  std::string problem = validate( o, reason );
  if ( !problem.empty() )
  {
    rejectNew( o, reason, problem );
    return;
  }

  o.status = '0';
  FIX::Message ack = executionReport( o, '0' );
  if ( modes.outOfOrder && !modes.silent )
  {
    o.pendingAck = ack;
    o.hasPendingAck = true;
  }
  else
    emit( o, ack, false );
  evaluate( o );
  o.muted = false;
}

std::string Broker::validate( const Order& o, int& reason ) const
{
  std::map<std::string, Instrument>::const_iterator inst = m_instruments.find( o.symbol );
  if ( inst == m_instruments.end() )
  {
    reason = 1;
    return "unknown symbol " + o.symbol;
  }
  if ( o.account != m_settings.account )
  {
    reason = 15;
    return "unknown account " + o.account;
  }
  reason = 11;
  if ( o.side != '1' && o.side != '2' )
    return std::string( "unsupported Side " ) + o.side;
  if ( o.ordType < '1' || o.ordType > '4' )
    return std::string( "unsupported OrdType " ) + o.ordType;
  if ( o.tif != '0' && o.tif != '1' && o.tif != '3' && o.tif != '4' && o.tif != '6' )
    return std::string( "unsupported TimeInForce " ) + o.tif;
  if ( hasLimit( o.ordType ) && o.price <= 0 )
    return "a limit order needs a positive Price (44)";
  if ( isStopType( o.ordType ) && o.stopPx <= 0 )
    return "a stop order needs a positive StopPx (99)";
  if ( o.tif == '6' )
  {
    double expireAt = 0;
    if ( !parseUtcTimestamp( o.expireTimeText, expireAt ) )
      return "a GTD order needs ExpireTime (126) as YYYYMMDD-HH:MM:SS[.sss]";
    if ( expireAt <= epochNow() )
    {
      reason = 99;
      return "ExpireTime " + o.expireTimeText + " is in the past";
    }
  }
  reason = 13;
  if ( o.qty <= 0 )
    return "quantity " + formatNumber( o.qty ) + " must be positive";
  if ( !isLotMultiple( o.qty, inst->second.lot ) )
    return "quantity " + formatNumber( o.qty ) + " is not a multiple of the lot " +
           formatNumber( inst->second.lot );
  reason = 99;
  if ( o.ordType == '1' && !inst->second.quote.set )
    return "no market for " + o.symbol;
  if ( isBuy( o ) )
  {
    double needed = o.qty * referencePrice( o );
    double available = m_cash - reservedCash( 0 );
    if ( needed > available + kEps )
      return "insufficient buying power: order needs " + formatNumber( needed ) + " " +
             m_settings.currency + ", " + formatNumber( available ) + " available";
  }
  return std::string();
}

void Broker::rejectNew( Order& o, int reason, const std::string& text )
{
  o.status = '8';
  o.text = text;
  FIX::Message report = executionReport( o, '8' );
  std::ostringstream code;
  code << reason;
  report.setField( 103, code.str() );
  report.setField( 58, text );
  emit( o, report, false );
}

// ---------------------------------------------------------------- matching

void Broker::evaluate( Order& o )
{
  if ( !isOpenStatus( o.status ) ) return;
  const Quote& q = m_instruments[ o.symbol ].quote;
  if ( isStopType( o.ordType ) && !o.triggered )
  {
    if ( !q.set ) return;
    bool hit = isBuy( o ) ? q.ask >= o.stopPx - kEps : q.bid <= o.stopPx + kEps;
    if ( !hit ) return;
    o.triggered = true;
  }
  bool isMarket = !hasLimit( o.ordType );
  double touch = isBuy( o ) ? q.ask : q.bid;
  bool marketable = q.set && ( isMarket || ( isBuy( o ) ? q.ask <= o.price + kEps
                                                        : q.bid >= o.price - kEps ) );
  double leaves = o.qty - o.cum;
  if ( marketable && !o.manualOnly )
  {
    bool capped = o.liquidityCap >= 0;
    double available = capped ? std::min( leaves, o.liquidityCap ) : leaves;
    if ( o.tif == '4' && available < leaves - kEps )
    {
      cancelUnsolicited( o, "FOK order could not be filled in full" );
      return;
    }
    if ( available > kEps ) execute( o, available, touch );
    if ( capped )
    {
      o.liquidityCap = -1;
      o.manualOnly = true;
    }
  }
  if ( isOpenStatus( o.status ) && ( o.tif == '3' || o.tif == '4' ) )
    cancelUnsolicited( o, o.tif == '3' ? "IOC remainder canceled"
                                        : "FOK order could not be filled in full" );
}

void Broker::execute( Order& o, double qty, double px )
{
  double cum = o.cum + qty;
  o.avgPx = ( o.avgPx * o.cum + px * qty ) / cum;
  o.cum = cum;
  o.status = o.qty - o.cum <= kEps ? '2' : '1';
  applyToAccount( o.symbol, o.side, qty, px );
  FIX::Message report = executionReport( o, 'F' );
  report.setField( 31, formatNumber( px ) );
  report.setField( 32, formatNumber( qty ) );
  emit( o, report, true );
}

void Broker::cancelUnsolicited( Order& o, const std::string& text )
{
  o.status = '4';
  o.text = text;
  FIX::Message report = executionReport( o, '4' );
  report.setField( 58, text );
  emit( o, report, false );
}

void Broker::applyToAccount( const std::string& symbol, char side, double qty, double px )
{
  Position& p = m_positions[ symbol ];
  double signedQty = side == '1' ? qty : -qty;
  if ( std::fabs( p.net ) < kEps || ( p.net > 0 ) == ( signedQty > 0 ) )
  {
    p.avgPx = ( p.avgPx * std::fabs( p.net ) + px * qty ) / ( std::fabs( p.net ) + qty );
    p.net += signedQty;
  }
  else if ( qty <= std::fabs( p.net ) + kEps )
  {
    p.net += signedQty;
    if ( std::fabs( p.net ) < kEps ) p = Position();
  }
  else
  {
    p.net += signedQty;  // flipped through zero: the rest opened at this price
    p.avgPx = px;
  }
  m_cash += side == '1' ? -qty * px : qty * px;
}

double Broker::referencePrice( const Order& o ) const
{
  if ( hasLimit( o.ordType ) ) return o.price;
  if ( o.ordType == '3' && !o.triggered ) return o.stopPx;
  std::map<std::string, Instrument>::const_iterator i = m_instruments.find( o.symbol );
  return i == m_instruments.end() ? 0.0 : i->second.quote.ask;
}

double Broker::reservedCash( const Order* except ) const
{
  double reserved = 0;
  for ( size_t i = 0; i < m_orders.size(); ++i )
  {
    const Order& o = *m_orders[ i ];
    if ( &o != except && isBuy( o ) && isOpenStatus( o.status ) )
      reserved += ( o.qty - o.cum ) * referencePrice( o );
  }
  return reserved;
}

// ---------------------------------------------------------------- cancel and replace

void Broker::onCancelRequest( const FIX::Message& m, const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  std::string clOrdId = m.getField( 11 );
  std::string orig = m.getField( 41 );
  OrderPtr order = find( orig );
  if ( !order )
  {
    sendCancelReject( session, clOrdId, orig, 0, '1', 1, "unknown order" );
    return;
  }
  Order& o = *order;
  if ( !isOpenStatus( o.status ) )
  {
    sendCancelReject( session, clOrdId, orig, &o, '1', 0,
                      std::string( "too late to cancel: order is " ) + statusName( o.status ) );
    return;
  }
  o.session = session;
  o.origClOrdId = orig;
  o.clOrdId = clOrdId;
  m_byClOrdId[ clOrdId ] = order;
  o.status = '4';
  emit( o, executionReport( o, '4' ), false );
}

void Broker::onReplaceRequest( const FIX::Message& m, const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  std::string clOrdId = m.getField( 11 );
  std::string orig = m.getField( 41 );
  OrderPtr order = find( orig );
  if ( !order )
  {
    sendCancelReject( session, clOrdId, orig, 0, '2', 1, "unknown order" );
    return;
  }
  Order& o = *order;
  if ( !isOpenStatus( o.status ) )
  {
    sendCancelReject( session, clOrdId, orig, &o, '2', 0,
                      std::string( "too late to replace: order is " ) + statusName( o.status ) );
    return;
  }
  if ( clOrdId != orig && find( clOrdId ) )
  {
    sendCancelReject( session, clOrdId, orig, &o, '2', 6, "duplicate ClOrdID " + clOrdId );
    return;
  }
  Order changed = o;
  changed.qty = optionalNumber( m, 38, o.qty );
  changed.price = optionalNumber( m, 44, o.price );
  changed.stopPx = optionalNumber( m, 99, o.stopPx );
  std::string problem;
  const Instrument& inst = m_instruments[ o.symbol ];
  if ( changed.qty <= o.cum + kEps )
    problem = "new quantity " + formatNumber( changed.qty ) + " must exceed the filled " +
              formatNumber( o.cum );
  else if ( !isLotMultiple( changed.qty, inst.lot ) )
    problem = "quantity " + formatNumber( changed.qty ) + " is not a multiple of the lot " +
              formatNumber( inst.lot );
  else if ( hasLimit( o.ordType ) && changed.price <= 0 )
    problem = "a limit order needs a positive Price (44)";
  else if ( isBuy( o ) )
  {
    double needed = ( changed.qty - o.cum ) * referencePrice( changed );
    double available = m_cash - reservedCash( &o );
    if ( needed > available + kEps )
      problem = "insufficient buying power: order needs " + formatNumber( needed ) + " " +
                m_settings.currency + ", " + formatNumber( available ) + " available";
  }
  if ( !problem.empty() )
  {
    sendCancelReject( session, clOrdId, orig, &o, '2', 99, problem );
    return;
  }
  o.qty = changed.qty;
  o.price = changed.price;
  o.stopPx = changed.stopPx;
  o.session = session;
  o.origClOrdId = orig;
  o.clOrdId = clOrdId;
  m_byClOrdId[ clOrdId ] = order;
  emit( o, executionReport( o, '5' ), false );
  evaluate( o );
}

// ---------------------------------------------------------------- control commands

void Broker::setPrice( const std::string& symbol, double bid, double ask, double bidSize,
                       double askSize )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  if ( bid <= 0 || ask <= 0 ) throw CommandError( "prices must be positive" );
  if ( bid > ask ) throw CommandError( "bid " + formatNumber( bid ) + " above ask " +
                                       formatNumber( ask ) );
  if ( bidSize <= 0 || askSize <= 0 ) throw CommandError( "sizes must be positive" );
  std::map<std::string, Instrument>::iterator i = m_instruments.find( symbol );
  if ( i == m_instruments.end() )
  {
    Instrument inst;
    inst.tick = m_settings.defaultTick;
    inst.lot = m_settings.defaultLot;
    i = m_instruments.insert( std::make_pair( symbol, inst ) ).first;
  }
  bool firstQuote = !i->second.quote.set;
  Quote& q = i->second.quote;
  q.set = true;
  q.bid = bid;
  q.ask = ask;
  q.bidSize = bidSize;
  q.askSize = askSize;
  publishQuote( symbol, firstQuote );
  std::vector<OrderPtr> orders = m_orders;  // evaluate() never adds orders, but be safe
  for ( size_t k = 0; k < orders.size(); ++k )
    if ( orders[ k ]->symbol == symbol ) evaluate( *orders[ k ] );
}

void Broker::defineInstrument( const std::string& symbol, double tick, double lot )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  if ( tick <= 0 || lot <= 0 ) throw CommandError( "tick and lot must be positive" );
  Instrument& inst = m_instruments[ symbol ];
  inst.tick = tick;
  inst.lot = lot;
}

void Broker::fill( const std::string& clOrdId, double qty, double px, bool pxGiven )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  OrderPtr order = find( clOrdId );
  if ( !order ) throw CommandError( "unknown order " + clOrdId );
  Order& o = *order;
  if ( !isOpenStatus( o.status ) )
    throw CommandError( "order " + clOrdId + " is " + statusName( o.status ) );
  double leaves = o.qty - o.cum;
  if ( qty <= 0 || qty > leaves + kEps )
    throw CommandError( "quantity " + formatNumber( qty ) + " not in (0, " +
                        formatNumber( leaves ) + "]" );
  if ( !pxGiven )
  {
    const Quote& q = m_instruments[ o.symbol ].quote;
    if ( hasLimit( o.ordType ) )
      px = o.price;
    else if ( q.set )
      px = isBuy( o ) ? q.ask : q.bid;
    else
      throw CommandError( "no price given and no market for " + o.symbol );
  }
  if ( px <= 0 ) throw CommandError( "price must be positive" );
  if ( isStopType( o.ordType ) ) o.triggered = true;
  execute( o, qty, px );
}

void Broker::addNextMode( const std::string& mode, double qty )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  if ( mode == "reject_fatal" ) m_next.rejectFatal = true;
  else if ( mode == "silent" ) m_next.silent = true;
  else if ( mode == "duplicate" ) m_next.duplicate = true;
  else if ( mode == "out_of_order" ) m_next.outOfOrder = true;
  else if ( mode == "partial" )
  {
    if ( qty <= 0 ) throw CommandError( "partial needs a positive quantity" );
    m_next.partialQty = qty;
  }
  else
    throw CommandError( "unknown mode " + mode +
                        " (reject_fatal, silent, duplicate, out_of_order, partial QTY)" );
}

int Broker::count( const std::string& clOrdId )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  std::map<std::string, int>::const_iterator i = m_newOrderCount.find( clOrdId );
  return i == m_newOrderCount.end() ? 0 : i->second;
}

std::string Broker::listOpenOrders()
{
  std::lock_guard<std::mutex> lock( m_mutex );
  std::string out;
  for ( size_t i = 0; i < m_orders.size(); ++i )
  {
    const Order& o = *m_orders[ i ];
    if ( !isOpenStatus( o.status ) ) continue;
    if ( !out.empty() ) out += ",";
    out += o.clOrdId + ":" + ( isBuy( o ) ? "buy" : "sell" ) + ":" + formatNumber( o.qty ) + ":" +
           formatNumber( o.qty - o.cum ) + ":" + statusName( o.status );
  }
  return out;
}

std::string Broker::listPositions()
{
  std::lock_guard<std::mutex> lock( m_mutex );
  std::string out;
  for ( std::map<std::string, Position>::const_iterator i = m_positions.begin();
        i != m_positions.end(); ++i )
  {
    if ( std::fabs( i->second.net ) < kEps ) continue;
    if ( !out.empty() ) out += ",";
    out += i->first + ":" + formatNumber( i->second.net ) + ":" + formatNumber( i->second.avgPx );
  }
  return out;
}

std::string Broker::balance()
{
  std::lock_guard<std::mutex> lock( m_mutex );
  return formatNumber( m_cash );
}

void Broker::setCash( double cash )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  m_cash = cash;
}

void Broker::reset()
{
  std::lock_guard<std::mutex> lock( m_mutex );
  m_orders.clear();
  m_byClOrdId.clear();
  m_newOrderCount.clear();
  m_positions.clear();
  m_subscriptions.clear();
  m_next = NextModes();
  m_cash = m_settings.startingCash;
}

void Broker::expireOrders( double now )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  for ( size_t i = 0; i < m_orders.size(); ++i )
  {
    Order& o = *m_orders[ i ];
    if ( o.tif != '6' || !isOpenStatus( o.status ) ) continue;
    double expireAt = 0;
    if ( !parseUtcTimestamp( o.expireTimeText, expireAt ) || expireAt > now ) continue;
    o.status = 'C';
    o.text = "GTD order expired";
    FIX::Message report = executionReport( o, 'C' );
    report.setField( 58, o.text );
    emit( o, report, false );
  }
}
